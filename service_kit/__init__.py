"""Domain-free toolkit shared by every service: settings, database, errors, logging, auth, health."""
