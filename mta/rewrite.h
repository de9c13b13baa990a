/*
 * rewrite: the rewrite-rule engine.  Given an address and the rules of
 * imta.cnf, find the rule for its domain, expand the rule's template and
 * say where the address goes: the rewritten address, the channel, and the
 * routing host.
 *
 * Owns nothing of the configuration (the result's channel points into it);
 * the result owns its strings (rewrite_result_clear()).  Failure policy:
 * rewriting never aborts on input.  An address no rule accepts, a route
 * host no channel has, a rewrite loop, or an input or expansion past its
 * cap makes rewrite_address() return false with res->error set, for the
 * caller to turn into a reply.  A lookup answer is only yes or no: a
 * caller whose directory is down should note it in lookup_arg and answer
 * with a temporary failure itself, since to us a failed lookup only means
 * "this rule does not apply".
 *
 * Lookup order for the domain D of local@D (case-insensitive; rules with
 * the same pattern are tried in file order, and a rule whose template
 * fails, by a condition or a lookup, lets the search go on):
 *   1. every "$*" rule;
 *   2. rules whose pattern is D itself;
 *   3. the channel one of whose host names is D: the address goes there
 *      unchanged, with D as the routing host;
 *   4. for a.b.c: ".b.c", then ".c"; for a domain literal [1.2.3.4]:
 *      "[1.2.3.]", "[1.2.]", "[1.]", "[]" (an IPv6 literal is cut at its
 *      ":" and "." the same way: "[IPv6:2001:db8::]", ..., "[IPv6:]", "[]");
 *   5. the catch-all ".".
 * What the substitutions hold for each kind of match:
 *   exact D          $H ""            $D D             $L ""
 *   .b.c on a.b.c    $H "a"           $D ".b.c"        $L ""
 *   "." and "$*"     $H D             $D "."           $L ""
 *   [1.2.] on [1.2.3.4]  $H ""        $D "[1.2.]"      $L "3.4"
 * so that $U%$H$D rebuilds the domain whatever matched; one trailing "."
 * of a rewritten domain is dropped.  $nH / $nD drop the n leftmost labels
 * (a leading "." of $D stays: $1D of ".b.c" is ".c"; nothing left is "").
 * $U is the local part, $0U the local part before the first "+", $1U what
 * follows it ("" without one).
 *
 * Templates.  The form is decided by the template's own "%" and "@" (not
 * those inside a lookup, not the escapes $% $@); each part is expanded
 * separately.  A template with neither takes its form from the expansion
 * (the text before the first "@" is split at its last "%"):
 *   A%B@C     address A@B, to the channel whose host name is C (none: the
 *             rewrite fails with "route host C: no channel has that name")
 *   A@B       the same as A%B@B
 *   A%B       the address becomes A@B and the lookup starts over (at most
 *             REWRITE_RESTARTS_MAX times: then "rewrite loop")
 *   A@B@C@D   source route: the address becomes "@C:A@B", to the channel
 *             whose host name is D, D the routing host
 *   A@B@C     the same as A@B@C@C
 * Conditions, anywhere in a template, checked before anything is expanded
 * (so a lookup never runs for a rule whose conditions fail):
 *   $E envelope only, $B header only, $F forward only, $R reverse only,
 *   $Mchan / $Nchan only when / unless chan is the source channel (no
 *   source channel: $M fails, $N holds),
 *   $Qchan / $Cchan only when / unless chan is the destination channel:
 *   ctx->dst_channel when the caller knows it, else the channel the rule
 *   itself routes to (the seed's "pending channel checks"); a restart
 *   (A%B) with no known destination fails $Q and satisfies $C.
 *   $?text is the error text (up to the next "$") when the rule fails; the
 *   last such text of a rule that failed becomes res->error if no rule
 *   accepts the address.
 * Substitutions also: $L, $$ $% $@ literal characters, $\ $^ $_ lower,
 * upper, original case from there to the end of the template; ${...},
 * $]...[ and $(...) are expanded inside first, then asked of ctx->lookup
 * with kind '{', ']' or '(' (no callback, or a false answer: the rule
 * fails and the search goes on).
 *
 * Special addresses:
 *   "local" (no domain) is rewritten as local@H, H the official host name
 *   of channel "l"; without an "l" channel it fails.
 *   "" (the null reverse path) is not rewritten: it goes to the source
 *   channel (else "l") unchanged, with that channel's official host.  The
 *   SMTP layer refuses it as a recipient before calling us.
 *   A source-routed input ("@a,@b:u@d") is refused: strip the route first
 *   (RFC 5321 lets a server ignore it).  The address is split at its last
 *   "@"; a quoted local part is taken as it is written.
 *   No rule applying: res->error is the $? text of the last rule that
 *   failed, else "no rewrite rule applies to DOMAIN".
 * Caps: the input (REWRITE_ADDRESS_MAX) and its domain (IMTA_HOST_MAX, for
 * a domain literal too), every expanded part and lookup answer
 * (REWRITE_EXPANSION_MAX), restarts, and rules tried per call
 * (REWRITE_STEPS_MAX); past any of them the rewrite fails and says which.
 * Cost: each pattern probe scans the rule list once, so a call costs
 * O(rules x labels); the domain cap bounds the labels.
 * Trace (ctx->trace): "rewrite ADDR (...)", then one line per rule tried,
 * "try PATTERN -> TEMPLATE (file:line) H=.. D=..[ L=..]: OUTCOME" where
 * the outcome is "matched (user U, domain D, route host C)", "matched
 * (restart with A@B)", "condition $X failed: ...", "lookup $... failed"
 * or "route host C: no channel has that host name"; "channel host: ...",
 * "restart N: rewrite A@B", and last "result ADDR channel C host H" or
 * "fail: ERROR".
 */
#ifndef MTA_REWRITE_H
#define MTA_REWRITE_H

#include <stdbool.h>

#include "imta_conf.h"

#define REWRITE_ADDRESS_MAX    512
#define REWRITE_EXPANSION_MAX  1024
#define REWRITE_RESTARTS_MAX   10
#define REWRITE_STEPS_MAX      1000     /* rules tried, restarts included */
#define REWRITE_LOOKUP_DEPTH   8        /* lookups inside lookups */
#define REWRITE_LOCAL_CHANNEL  "l"

/* kind is '{' for ${...}, ']' for $]...[ and '(' for $(...); query is
 * expanded already.  Return true with a malloc'd *result, or false. */
typedef bool (*rewrite_lookup_fn)(void *arg, char kind, const char *query,
    char **result);
/* One human-readable line per step, without a newline. */
typedef void (*rewrite_trace_fn)(void *arg, const char *line);

struct rewrite_ctx {
	const char *src_channel;   /* channel doing the rewrite: $M / $N; may be NULL */
	const char *dst_channel;   /* destination channel if known ($Q / $C); NULL unknown */
	bool envelope;             /* envelope ($E) vs header ($B) address */
	bool forward;              /* RCPT, To, Cc ($F) vs MAIL FROM, From, Sender ($R) */
	rewrite_lookup_fn lookup;  /* ${...} $]...[ $(...); NULL: such a rule fails */
	void *lookup_arg;
	rewrite_trace_fn trace;    /* the operator's `mta test-rewrite`; may be NULL */
	void *trace_arg;
};

struct rewrite_result {
	char *address;                       /* the rewritten address */
	const struct imta_channel *channel;  /* where it goes; points into the conf */
	char *host;                          /* the routing host (the C of A%B@C) */
	char *error;                         /* why it failed */
	int restarts;                        /* A%B restarts taken */
};

/* Rewrite addr ("local@domain", "local" alone, or "" the null path).
 * Returns true and fills res, or false with only res->error set.  Clear
 * res with rewrite_result_clear() either way. */
bool rewrite_address(const struct imta_conf *conf, const char *addr,
    const struct rewrite_ctx *ctx, struct rewrite_result *res);
void rewrite_result_clear(struct rewrite_result *res);

#endif
