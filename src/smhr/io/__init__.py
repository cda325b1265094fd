"""smhr.io"""
