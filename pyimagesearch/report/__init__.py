"""Reports: plots, galleries, the learned template, and the Markdown page tying them together."""
