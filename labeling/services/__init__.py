"""Business logic of the labeling app. Views, tasks and commands call these, keyword-only."""
