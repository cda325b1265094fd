"""smhr.data"""
