"""The types several capabilities share: images, locations, members, the request
context, what a list asks for. Plain data; imports nothing of glimpse but the clock."""
