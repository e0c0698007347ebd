/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* peer-call SOCKET PATH INTERFACE MEMBER [STRING...]: one method call, peer
 * to peer (no broker), as a member of group xfsm may make on a worker's
 * socket /run/xfsm/STEM.sock; every argument a string. busctl speaks only to
 * a bus. Prints "OK" and the first string of the reply, or the error name
 * and message; exit 0 on success, 1 on an error reply, 2 otherwise. */

#include <stdio.h>
#include <string.h>

#include <systemd/sd-bus.h>

int main(int argc, char **argv) {
        sd_bus *bus = NULL;
        sd_bus_message *call = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char address[300];
        const char *s = NULL;
        int r;

        if (argc < 5) {
                fprintf(stderr, "usage: peer-call SOCKET PATH INTERFACE MEMBER [STRING...]\n");
                return 2;
        }
        snprintf(address, sizeof address, "unix:path=%s", argv[1]);
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_message_new_method_call(bus, &call, NULL, argv[2], argv[3], argv[4]);
        for (int k = 5; r >= 0 && k < argc; k++)
                r = sd_bus_message_append(call, "s", argv[k]);
        if (r < 0) {
                fprintf(stderr, "peer-call: %s\n", strerror(-r));
                return 2;
        }
        r = sd_bus_call(bus, call, 0, &error, &reply);
        if (r < 0) {
                printf("%s: %s\n", error.name ? error.name : "?", error.message ? error.message : strerror(-r));
                return 1;
        }
        if (sd_bus_message_peek_type(reply, NULL, NULL) > 0 && sd_bus_message_read_basic(reply, 's', &s) <= 0)
                s = NULL;
        printf("OK %s\n", s ? s : "");
        return 0;
}
