"""smhr.train"""
