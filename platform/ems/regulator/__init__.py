"""The regulator's read-only view: enterprises of a region and what they uploaded."""
