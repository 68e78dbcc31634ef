"""Customer forms, one module per section of the customer page."""
