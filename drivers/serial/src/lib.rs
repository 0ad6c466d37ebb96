//! AT phones and modems over a serial port (27.007 / V.250). Built by issue 7.
