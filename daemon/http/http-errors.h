/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The HTTP status of each D-Bus error xfsm-http passes on (xfsm-http(8),
 * ERRORS): the one table. Pure. */

/* 400, 403, 404, 409, 429 or 503 for the error named name (503 for any
 * error not in the table: the component did not answer as it should). */
unsigned http_status_of_bus_error(const char *name);
