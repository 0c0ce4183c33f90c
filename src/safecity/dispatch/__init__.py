"""Command centre and dispatch: the road network, units, incidents, orders, recommendations,
response circles and their KPIs (issue 12; the road network first)."""
