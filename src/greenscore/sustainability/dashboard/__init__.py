"""The GreenScore dashboard (Dash + Plotly): standalone (``greenscore dashboard``) or mounted
in the API at ``/dashboard`` behind operator login."""
