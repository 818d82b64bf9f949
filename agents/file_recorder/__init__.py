"""FileRecorder: every recorded feed of the site, written to HDF5 files rotated on a period."""
