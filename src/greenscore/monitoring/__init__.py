"""Model monitoring: drift, data quality, performance over time, alerts, retraining."""
