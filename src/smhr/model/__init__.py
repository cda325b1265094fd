"""smhr.model"""
