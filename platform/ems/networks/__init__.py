"""Metering and energy balance networks (GB/T 33656, GB/T 28749) and what they compute."""
