"""smhr.losses"""
