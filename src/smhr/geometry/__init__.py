"""smhr.geometry"""
