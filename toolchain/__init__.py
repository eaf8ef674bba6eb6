"""mcuforge: TinyML models -> validated, profiled C99 firmware for microcontrollers."""
__version__ = "0.1.0"
