"""smhr.render"""
