"""Pure codecs: bytes or register words in, frames or values out, no I/O."""

from datetime import timedelta, timezone

#: Meters on Chinese buses keep Beijing time (UTC+8, no daylight saving): the clock fields
#: of DL/T 645 and CJ/T 188 frames are read and written in it.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
