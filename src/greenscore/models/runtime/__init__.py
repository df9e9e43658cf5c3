"""The one scoring runtime: raw applicants -> model matrix -> PD, points and exact reasons."""
