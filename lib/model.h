/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The loaded definition of a component: what the YAML loader builds and the
 * engine runs. Everything here is immutable once loaded and owned by the
 * Component; the engine keeps pointers into it (state and event names) in
 * effects, so a Component lives as long as the engine that loaded it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* A payload template compiled once (json-path.h). */
typedef struct Template Template;

typedef enum StateType {
        STATE_REGULAR,
        STATE_ENTRY,
        STATE_FINAL,
        STATE_ERROR,
} StateType;

typedef enum TransitionType {
        TRANSITION_REGULAR,
        TRANSITION_TRIGGERABLE,
        TRANSITION_INTERNAL,
        TRANSITION_INTER_MACHINE,
        TRANSITION_CROSS_COMPONENT,
        TRANSITION_TIMEOUT,
        TRANSITION_AUTO,
} TransitionType;

typedef enum MatchOp {
        MATCH_EQ,
        MATCH_NE,
        MATCH_GT,
        MATCH_LT,
        MATCH_GE,
        MATCH_LE,
} MatchOp;

struct Guard;

typedef struct MatchingRule {
        char *event_property;    /* dot path into the event payload */
        char *instance_property; /* dot path into the instance context */
        MatchOp op;
} MatchingRule;

typedef struct Mapping {
        char *target_key;
        char *source_path;
} Mapping;

typedef enum ActionKind {
        ACTION_METHOD, /* a bare string (xcomponent): a named method, reported, not run */
        ACTION_ASSIGN,
        ACTION_SEND,
        ACTION_CANCEL,
        ACTION_UNIT,
        ACTION_EXEC,
} ActionKind;

typedef enum SendTarget {
        SEND_SELF,
        SEND_PARENT,
        SEND_MACHINE,   /* every instance of a machine of this component (matchingRules select) */
        SEND_COMPONENT, /* Component.Machine: routed */
} SendTarget;

typedef struct Assign {
        char *key;
        struct Guard *expr;
} Assign;

typedef struct Action {
        ActionKind kind;
        unsigned id; /* unique in its machine: how a persisted delayed send finds it again */
        unsigned line, column;
        char *name; /* METHOD: the method; CANCEL: the send id; UNIT: the unit */
        /* assign */
        Assign *assigns;
        size_t n_assigns;
        /* send */
        SendTarget to;
        char *to_component, *to_machine;
        char *event;
        Template *payload;
        bool has_delay;
        uint64_t delay_ms;
        char *send_id;
        struct MatchingRule *rules;
        size_t n_rules;
        /* unit: verb is start, stop or restart */
        char *verb;
        /* exec */
        char **argv; /* NULL-terminated */
        uint64_t timeout_ms;
} Action;

typedef struct CascadingRule {
        char *target_component; /* NULL: this component */
        char *target_machine;
        char *target_state;
        char *event;
        MatchingRule *rules;
        size_t n_rules;
        Template *payload; /* may hold {{path}} */
        unsigned line, column;
        unsigned state_line, state_column;
} CascadingRule;

typedef struct Transition {
        unsigned index;         /* position in the machine's transition list */
        unsigned from, to;      /* state indexes (a targetless transition: to == from) */
        char *event;            /* NULL: an eventless transition (statecharts) */
        bool targetless;        /* no 'to': its actions run, no state is left or entered */
        bool eventless;         /* statecharts: selected after every microstep, without an event */
        TransitionType type;
        bool has_timeout;
        uint64_t timeout_ms;
        bool reset_on_transition; /* default true */
        char *target_machine;
        char *target_component;
        char *target_event;
        Mapping *mappings;
        size_t n_mappings;
        MatchingRule *rules;
        size_t n_rules;
        bool notify_parent;
        char *notify_event;
        bool notify_include_state;   /* default true */
        bool notify_include_context; /* default false */
        char *triggered_method;
        Action *actions;
        size_t n_actions;
        char *guard;             /* the expression as written */
        struct Guard *guard_expr; /* parsed (guard.h) */
        unsigned line, column;
} Transition;

typedef struct State {
        unsigned index;
        char *name;
        StateType type;
        Action *on_entry;
        size_t n_on_entry;
        Action *on_exit;
        size_t n_on_exit;
        CascadingRule *cascades;
        size_t n_cascades;
        /* transitions leaving this state, in file order */
        const Transition **out;
        size_t n_out;
        /* timers armed on entry: timeout transitions and delayed autos */
        bool has_timers;
        bool has_auto;
        bool has_eventless;  /* statecharts: an eventless transition leaves it */
        /* statecharts: states are numbered in document order, parents first */
        int parent;          /* -1: top level */
        unsigned end;        /* the states of this subtree are [index, end) */
        unsigned *children;  /* in document order */
        size_t n_children;
        int initial;         /* the child entered by default; -1 for an atomic state */
        bool parallel;       /* every child region active at once */
        uint8_t history;     /* HISTORY_* */
        int history_slot;    /* where an instance remembers it, -1: none */
        char *done_event;    /* "done.state.<name>" of a compound or parallel state */
        char *initial_name;  /* as written; resolved into initial */
        unsigned initial_line, initial_column;
        unsigned line, column;
} State;

enum {
        HISTORY_NONE,
        HISTORY_SHALLOW,
        HISTORY_DEEP,
};

typedef struct Machine {
        unsigned index;
        char *name;
        unsigned initial;
        State *states;
        size_t n_states;
        Transition *transitions;
        size_t n_transitions;
        bool parent_link;
        char *parent_link_event;
        bool retention_drop; /* xfsm default: keep */
        uint64_t retention_keep_ms;
        json_object *context_schema; /* kept as given */
        const Action **actions; /* every action of the machine, by id */
        size_t n_actions;
        bool statechart;   /* has compound or parallel states, or semantics: scxml (the SCXML algorithm) */
        bool has_eventless; /* statecharts: some transition is eventless */
        unsigned n_words;  /* 64-bit words of a configuration (statecharts) */
        unsigned n_history;
        struct Component *component;
        unsigned line, column;
} Machine;

typedef enum EntryMode {
        ENTRY_SINGLETON,
        ENTRY_MULTIPLE,
} EntryMode;

typedef struct Component {
        char *name;
        char *version;   /* the YAML `version` key, may be NULL */
        char *hash;      /* definition hash: the instances' Version */
        char *file;      /* where it was loaded from */
        Machine *machines;
        size_t n_machines;
        Machine *entry_machine; /* NULL: none */
        EntryMode entry_mode;
        bool auto_create;
        json_object *definition; /* the whole document as JSON */
} Component;

Component *component_free(Component *c);
const Machine *component_find_machine(const Component *c, const char *name);
const State *machine_find_state(const Machine *m, const char *name);

#define STATECHART_MAX_STATES 512 /* configurations are bitsets of at most 8 words */
#define STATECHART_WORDS (STATECHART_MAX_STATES / 64)

#define DEFAULT_RETENTION_KEEP_MS (24ULL * 3600ULL * 1000ULL)
