/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Instance storage: the id map (open addressing, linear probing, backward
 * shift on removal), the per-state and creation-order lists, ids, and the
 * public accessors. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "macro.h"

static uint64_t id_hash(const char *id) {
        /* ids are random: 16 hex digits of them are a good hash already */
        uint64_t h = 0;
        for (const char *p = id; *p && p < id + 18; p++)
                h = h * 31 + (unsigned char) *p;
        return h ^ (h >> 29);
}

static int map_grow(InstanceMap *m) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        MapSlot *slots = calloc(cap, sizeof *slots);

        if (!slots)
                return -ENOMEM;
        for (size_t k = 0; k < m->cap; k++) {
                if (!m->slots[k].i)
                        continue;
                size_t j = m->slots[k].hash & (cap - 1);
                while (slots[j].i)
                        j = (j + 1) & (cap - 1);
                slots[j] = m->slots[k];
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
        return 0;
}

int instance_map_put(InstanceMap *m, xfsm_instance *i) {
        uint64_t h = id_hash(i->id);
        size_t j;

        if ((m->n + 1) * 2 > m->cap) { /* at most half full: short probes */
                int r = map_grow(m);
                if (r < 0)
                        return r;
        }
        j = h & (m->cap - 1);
        while (m->slots[j].i) {
                if (m->slots[j].hash == h && streq(m->slots[j].i->id, i->id))
                        return -EEXIST;
                j = (j + 1) & (m->cap - 1);
        }
        m->slots[j] = (MapSlot) { h, i };
        m->n++;
        return 0;
}

xfsm_instance *instance_map_get(const InstanceMap *m, const char *id) {
        uint64_t h;
        size_t j;

        if (m->cap == 0)
                return NULL;
        h = id_hash(id);
        j = h & (m->cap - 1);
        while (m->slots[j].i) {
                if (m->slots[j].hash == h && streq(m->slots[j].i->id, id))
                        return m->slots[j].i;
                j = (j + 1) & (m->cap - 1);
        }
        return NULL;
}

void instance_map_remove(InstanceMap *m, xfsm_instance *i) {
        size_t j, k;

        if (m->cap == 0)
                return;
        j = id_hash(i->id) & (m->cap - 1);
        while (m->slots[j].i && m->slots[j].i != i)
                j = (j + 1) & (m->cap - 1);
        if (!m->slots[j].i)
                return;
        m->slots[j] = (MapSlot) {};
        m->n--;
        /* backward shift: move later members of the run into the hole */
        k = j;
        for (;;) {
                k = (k + 1) & (m->cap - 1);
                if (!m->slots[k].i)
                        break;
                size_t home = m->slots[k].hash & (m->cap - 1);
                /* can slots[k] move to j? only if home is not in (j, k] cyclically */
                bool in_range = j <= k ? (home > j && home <= k) : (home > j || home <= k);
                if (!in_range) {
                        m->slots[j] = m->slots[k];
                        m->slots[k] = (MapSlot) {};
                        j = k;
                }
        }
}

void instance_map_done(InstanceMap *m) {
        free(m->slots);
        *m = (InstanceMap) {};
}

static StateList *state_list(xfsm_instance *i) {
        return &i->comp->lists[i->machine->index][i->state];
}

static void state_link(xfsm_instance *i) {
        StateList *l = state_list(i);
        i->state_next = NULL;
        i->state_prev = l->tail;
        if (l->tail)
                l->tail->state_next = i;
        else
                l->head = i;
        l->tail = i;
        l->n++;
}

static void state_unlink(xfsm_instance *i) {
        StateList *l = state_list(i);
        if (i->state_prev)
                i->state_prev->state_next = i->state_next;
        else
                l->head = i->state_next;
        if (i->state_next)
                i->state_next->state_prev = i->state_prev;
        else
                l->tail = i->state_prev;
        i->state_prev = i->state_next = NULL;
        l->n--;
}

void instance_link(xfsm_instance *i) {
        ComponentRt *c = i->comp;
        state_link(i);
        i->all_next = NULL;
        i->all_prev = c->all_tail;
        if (c->all_tail)
                c->all_tail->all_next = i;
        else
                c->all_head = i;
        c->all_tail = i;
        c->n_instances++;
}

void instance_unlink(xfsm_instance *i) {
        ComponentRt *c = i->comp;
        state_unlink(i);
        if (i->all_prev)
                i->all_prev->all_next = i->all_next;
        else
                c->all_head = i->all_next;
        if (i->all_next)
                i->all_next->all_prev = i->all_prev;
        else
                c->all_tail = i->all_prev;
        i->all_prev = i->all_next = NULL;
        c->n_instances--;
}

void instance_set_state(xfsm_instance *i, unsigned state) {
        if (i->state == state)
                return;
        state_unlink(i);
        i->state = state;
        state_link(i);
}

xfsm_instance *instance_free(xfsm_instance *i) {
        if (!i)
                return NULL;
        json_object_put(i->context);
        free(i->parent_id);
        for (unsigned k = 0; k < i->n_timers; k++)
                json_object_put(i->timers[k].payload);
        free(i->timers);
        free(i->active);
        free(i->hist);
        history_free(i->log);
        free(i);
        return NULL;
}

void instance_release(xfsm_instance *i) {
        i->dead = true;
        for (unsigned k = 0; k < i->n_timers; k++)
                json_object_put(i->timers[k].payload);
        i->n_timers = 0;
        i->log = history_free(i->log);
        if (i->heap_refs == 0)
                instance_free(i);
}

void instance_heap_unref(xfsm_instance *i) {
        if (--i->heap_refs == 0 && i->dead)
                instance_free(i);
}

/* xoshiro256** */
static uint64_t rotl(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4]) {
        uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

void rng_seed(uint64_t rng[4], uint64_t seed) {
        /* splitmix64 to spread the seed */
        for (int k = 0; k < 4; k++) {
                uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
                rng[k] = z ^ (z >> 31);
        }
}

void uuid4_format(uint64_t rng[4], char ret[ID_LEN + 1]) {
        static const char hex[] = "0123456789abcdef";
        /* where each byte's two digits go in 8-4-4-4-12 */
        static const uint8_t at[16] = { 0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34 };
        uint8_t b[16];
        uint64_t a = rng_next(rng), c = rng_next(rng);

        memcpy(b, &a, 8);
        memcpy(b + 8, &c, 8);
        b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80); /* variant 1 */
        for (int i = 0; i < 16; i++) {
                ret[at[i]] = hex[b[i] >> 4];
                ret[at[i] + 1] = hex[b[i] & 15];
        }
        ret[8] = ret[13] = ret[18] = ret[23] = '-';
        ret[ID_LEN] = 0;
}

/* ---- accessors ------------------------------------------------------- */

const char *xfsm_instance_id(const xfsm_instance *i) {
        return i->id;
}
const char *xfsm_instance_component(const xfsm_instance *i) {
        return i->comp->def->name;
}
const char *xfsm_instance_machine(const xfsm_instance *i) {
        return i->machine->name;
}
const char *xfsm_instance_state(const xfsm_instance *i) {
        return i->machine->statechart ? i->state_text : i->machine->states[i->state].name;
}
const char *xfsm_instance_status(const xfsm_instance *i) {
        static const char *const names[] = { "active", "completed", "error" };
        return names[i->status];
}
const char *xfsm_instance_version(const xfsm_instance *i) {
        return i->comp->def->hash;
}
uint64_t xfsm_instance_created_at(const xfsm_instance *i) {
        return i->created_at;
}
uint64_t xfsm_instance_updated_at(const xfsm_instance *i) {
        return i->updated_at;
}
const char *xfsm_instance_parent_id(const xfsm_instance *i) {
        return i->parent_id;
}
const char *xfsm_instance_parent_machine(const xfsm_instance *i) {
        return i->parent_machine ? i->parent_machine->name : NULL;
}
bool xfsm_instance_is_entry_point(const xfsm_instance *i) {
        return i->entry_point;
}
char *xfsm_instance_context_json(const xfsm_instance *i) {
        return strdup(i->context ? json_object_to_json_string_ext(i->context, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "{}");
}
size_t xfsm_instance_n_timers(const xfsm_instance *i) {
        return i->n_timers;
}
int xfsm_instance_timer(const xfsm_instance *i, size_t idx, const char **ret_event, uint64_t *ret_deadline,
                        uint64_t *ret_realtime_deadline) {
        if (idx >= i->n_timers)
                return -ERANGE;
        if (ret_event)
                *ret_event = i->timers[idx].event;
        if (ret_deadline)
                *ret_deadline = i->timers[idx].deadline;
        if (ret_realtime_deadline)
                *ret_realtime_deadline = i->timers[idx].realtime_deadline;
        return 0;
}
void *xfsm_instance_get_userdata(const xfsm_instance *i) {
        return i->userdata;
}
void xfsm_instance_set_userdata(xfsm_instance *i, void *userdata) {
        i->userdata = userdata;
}
