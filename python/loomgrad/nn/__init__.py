"""loomgrad.nn (under construction)"""
