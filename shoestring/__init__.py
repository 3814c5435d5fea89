"""Shoestring: one cheap zonal GKE cluster for all of a small team's projects."""
