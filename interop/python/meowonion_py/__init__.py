"""MeowOnion's second implementation: a relay and a client written from proto/ alone."""
