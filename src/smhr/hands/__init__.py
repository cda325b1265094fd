"""smhr.hands"""
