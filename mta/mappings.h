/*
 * mappings: the seed's mappings file (access tables and general mapping
 * tables) and the engine that applies one table to a probe string.
 *
 * Owns: every table, pattern and template string; mappings_free() releases
 * them.  A result owns its strings (mappings_result_clear()).  Failure
 * policy: a file is accepted whole or refused with "file:line: message"
 * lines; applying a table never fails loudly: a probe, output or step count
 * past its cap makes the entry (or the table) not match, and the result
 * says so in `error` so that the caller can log it and answer with a
 * temporary failure instead of letting the probe through.
 *
 * Patterns (case-insensitive):
 *   "*" any run, "%" one character, "$_" makes the next wildcard minimal,
 *   "$@" turns capture off and "$^" on, "$(a.b.c.d/bits)" an IPv4 address
 *   in the subnet, "${ipv6/bits}" the same for IPv6, "$n*" the text of
 *   wildcard n again, "$:X" / "$;X" match only when test flag X (A SASL
 *   used, T TLS used, E ESMTP used, L LMTP) is set / clear, "$$" "$*" "$%"
 *   "$ " literal characters.  Other characters ("|" too) match themselves.
 * Templates:
 *   "$0".."$9" the wildcards' text, "$$" "$*" "$%" "$ " literals,
 *   "$\" "$^" "$_" lower, upper, original case from here on,
 *   "$|TABLE;arg|" the output of TABLE applied to arg (the entry fails
 *   when TABLE does not match or answers $N/$F), "${...}" and "$]...["
 *   lookups through the caller's callback (none, or a failure: the entry
 *   fails), flags:
 *     $Y allow, $N / $F reject (the text is the error), $B discard,
 *     $H hold, $I hold for the postmaster, $D[-]n delay in hundredths of a
 *     second (an optional "|" ends n), $J / $K replace the envelope from /
 *     the Sender (their arguments are the first "|"-separated fields of
 *     the text, in the order J, K; the rest is the text),
 *     flow: $E end (default), $C next entry with the output as input,
 *     $L the same but wrapping once to the first entry, $R the first entry
 *     with the output as input; at most MAPPINGS_ITERATIONS_MAX steps.
 */
#ifndef MTA_MAPPINGS_H
#define MTA_MAPPINGS_H

#include <stdbool.h>
#include <stdio.h>

#define MAPPINGS_TABLES_MAX      1000
#define MAPPINGS_ENTRIES_MAX     100000     /* per table */
#define MAPPINGS_NAME_MAX        64
#define MAPPINGS_INPUT_MAX       4096       /* probe and each output */
#define MAPPINGS_ITERATIONS_MAX  10
#define MAPPINGS_NESTING_MAX     5          /* $|TABLE;arg| inside each other */
#define MAPPINGS_STEPS_MAX       200000     /* pattern matcher steps per entry */
#define MAPPINGS_CAPTURES        10

/* Result flags. */
enum {
	MAPPINGS_Y = 1 << 0, MAPPINGS_N = 1 << 1, MAPPINGS_B = 1 << 2,
	MAPPINGS_H = 1 << 3, MAPPINGS_I = 1 << 4, MAPPINGS_D = 1 << 5,
	MAPPINGS_J = 1 << 6, MAPPINGS_K = 1 << 7,
};

/* Test flags of the probe ($:X / $;X in patterns). */
enum {
	MAPPINGS_TEST_A = 1 << 0, MAPPINGS_TEST_T = 1 << 1,
	MAPPINGS_TEST_E = 1 << 2, MAPPINGS_TEST_L = 1 << 3,
};

struct mappings;

/* kind is '{' for ${...} and ']' for $]...[; query is expanded already.
 * Return true with an allocated *result, or false (the entry fails). */
typedef bool (*mappings_lookup_fn)(void *arg, char kind, const char *query,
    char **result);

struct mappings_probe {
	const char *input;
	unsigned tests;                 /* MAPPINGS_TEST_* */
	mappings_lookup_fn lookup;      /* may be NULL */
	void *arg;
};

struct mappings_result {
	bool matched;
	unsigned flags;                 /* MAPPINGS_* */
	char *text;                     /* the output; for $N/$F the error text */
	long delay;                     /* $D, hundredths of a second */
	char *from;                     /* $J */
	char *sender;                   /* $K */
	int entry_line;                 /* line of the entry that decided */
	const char *error;              /* a cap was hit (static text) */
};

struct mappings *mappings_load(const char *path, char **errs);
struct mappings *mappings_parse(const char *name, const char *text,
    char **errs);
void mappings_free(struct mappings **m);

bool mappings_has_table(const struct mappings *m, const char *table);
/* Print the tables in canonical form (a mappings file). */
void mappings_dump(const struct mappings *m, FILE *out);

/* Apply table to the probe.  Returns res->matched; an unknown table does
 * not match.  Clear res with mappings_result_clear(). */
bool mappings_apply(const struct mappings *m, const char *table,
    const struct mappings_probe *probe, struct mappings_result *res);
void mappings_result_clear(struct mappings_result *res);

#endif
