"""Scripts and builders that make the synthetic captures under pcaps/ and sensor/data/."""
