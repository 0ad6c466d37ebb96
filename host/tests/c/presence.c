/*
 * Plug and play and device presence through the C exports, driven by the mock's
 * DevSpecific commands: a device away and back, a new device announced with
 * H_PHONE_CREATE and bound by TSPI_providerCreatePhoneDevice, a device removed
 * for good with a request outstanding.
 * Usage: presence /path/to/libtsp_host.so
 */
#include "tspi_loader.h"

#define HPROV ((DWORD_PTR)0x1234)

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: presence LIBRARY\n"); return 2; }
    load(argv[1]);
    start();
    HDRVPHONE hd = NULL;
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x71, &hd, V31, on_event) == 0, "TSPI_phoneOpen");
    check(tspi_phoneSetStatusMessages(hd, H_PHONESTATE_CONNECTED | H_PHONESTATE_DISCONNECTED, 0, 0) == 0, "SetStatusMessages(CONNECTED | DISCONNECTED)");

    /* Away and back. */
    int mark = event_count;
    check(tspi_phoneDevSpecific(1, hd, "disconnect", 10) == 1, "mock command: disconnect");
    int i = wait_event(mark, H_PHONE_STATE);
    check(i >= 0 && event_log[i].p1 == H_PHONESTATE_DISCONNECTED && event_log[i].ht == (HTAPIPHONE)0x71, "H_PHONE_STATE(DISCONNECTED)");
    check(tspi_phoneSetData(2, hd, 0, "x", 1) == H_PHONEERR_INVALPHONESTATE && completions[2] == 0, "requests while away: INVALPHONESTATE");
    char byte;
    check(tspi_phoneGetData(hd, 0, &byte, 1) == H_PHONEERR_INVALPHONESTATE, "GetData while away: INVALPHONESTATE");
    mark = event_count;
    check(tspi_phoneDevSpecific(3, hd, "reconnect", 9) == 3, "mock command: reconnect");
    i = wait_event(mark, H_PHONE_STATE);
    check(i >= 0 && event_log[i].p1 == H_PHONESTATE_CONNECTED, "H_PHONE_STATE(CONNECTED)");
    check(tspi_phoneSetData(4, hd, 0, "x", 1) == 4 && completed_once(4, 0), "requests work again");

    /* A new device. */
    mark = event_count;
    check(tspi_phoneDevSpecific(5, hd, "arrive", 6) == 5, "mock command: a new phone arrives");
    i = wait_event(mark, H_PHONE_CREATE);
    check(i >= 0 && event_log[i].ht == NULL && event_log[i].p1 == HPROV, "H_PHONE_CREATE(hProvider, temp id) through the create procedure");
    DWORD_PTR temp = i >= 0 ? event_log[i].p2 : 0;
    check(tspi_providerCreatePhoneDevice(temp + 100, 9) == H_PHONEERR_BADDEVICEID, "CreatePhoneDevice with an unknown temp id");
    check(tspi_providerCreatePhoneDevice(temp, 9) == 0, "TSPI_providerCreatePhoneDevice binds id 9");
    check(tspi_providerCreatePhoneDevice(temp, 9) == H_PHONEERR_BADDEVICEID, "a temp id binds once");
    uint8_t caps[1024];
    check(tspi_phoneGetDevCaps(9, V31, 0, tapi_buffer(caps, sizeof caps)) == 0 && u32_at(caps, 0x1C) == 0x4D4B0002,
          "the new phone's caps under id 9, permanent id 0x4D4B0002");
    HDRVPHONE hd9 = NULL;
    check(tspi_phoneOpen(9, (HTAPIPHONE)0x79, &hd9, V31, on_event) == 0 && tspi_phoneSetData(6, hd9, 1, "new", 3) == 6 && completed_once(6, 0),
          "the new phone opens and takes data");
    check(tspi_phoneClose(hd9) == 0, "close it");

    /* Gone for good, with a request outstanding. */
    check(tspi_phoneDevSpecific(7, hd, "fault set_data never", 20) == 7, "mock command: SetData never completes");
    check(tspi_phoneSetData(8, hd, 0, "held", 4) == 8 && completions[8] == 0, "a request outstanding");
    mark = event_count;
    check(tspi_phoneDevSpecific(9, hd, "remove", 6) == 9, "mock command: remove the device");
    check(completed_once(8, H_PHONEERR_OPERATIONFAILED), "the outstanding request completed with an error");
    int close_at = wait_event(mark, H_PHONE_CLOSE), remove_at = wait_event(mark, H_PHONE_REMOVE);
    check(close_at >= 0 && event_log[close_at].ht == (HTAPIPHONE)0x71, "H_PHONE_CLOSE on the phone");
    check(remove_at > close_at && event_log[remove_at].ht == NULL && event_log[remove_at].p1 == BASE, "then H_PHONE_REMOVE(its device id)");
    check(tspi_phoneSetData(10, hd, 0, "x", 1) == H_PHONEERR_INVALPHONEHANDLE, "the handle is dead");
    check(tspi_phoneClose(hd) == 0, "a later TSPI_phoneClose on it succeeds");
    check(tspi_phoneClose(hd) == H_PHONEERR_INVALPHONEHANDLE, "once");
    check(tspi_phoneGetDevCaps(BASE, V31, 0, tapi_buffer(caps, sizeof caps)) == H_PHONEERR_BADDEVICEID, "the removed id answers no more");
    check(tspi_phoneOpen(BASE + 1, (HTAPIPHONE)0x72, &hd, V31, on_event) == 0 && tspi_phoneClose(hd) == 0, "the other phone is untouched");

    check(overlaps == 0, "callbacks never overlapped");
    check(tspi_providerShutdown(V31, 7) == 0, "shut down");
    return finish();
}
