"""GreenScore: build, explain, audit and serve probability-of-default models, and measure
what each one costs in energy and carbon."""

__version__ = "0.1.0"
