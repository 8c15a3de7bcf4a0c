"""Health endpoints for load balancers and monitoring."""
