//! USB HID telephony handsets and headsets, through libusb. Built by issue 8.
