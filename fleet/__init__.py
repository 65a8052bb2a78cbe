"""Run the whole fleet on one machine: migrations, two replicas of each service, nginx, under supervisor."""
