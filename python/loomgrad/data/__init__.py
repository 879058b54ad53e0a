"""loomgrad.data (under construction)"""
