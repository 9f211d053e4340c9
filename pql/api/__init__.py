"""The leads API for sales reps and managers: the queue, a lead, and the actions on it."""
