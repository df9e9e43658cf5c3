"""The migrations, one file per revision (``NNNN_what.py``), oldest first."""
