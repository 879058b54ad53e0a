"""loomgrad.utils (under construction)"""
