/* sasl: the PLAIN message (see sasl.h). */
#include "sasl.h"

#include <string.h>

bool
sasl_plain_parse(const char *data, size_t len, const char **authz,
    const char **authc, const char **pass)
{
	const char *nul1 = memchr(data, '\0', len), *nul2;

	if (nul1 == NULL)
		return false;
	nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - data));
	/* The password runs to the end: no third NUL inside it. */
	if (nul2 == NULL || memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - data)))
		return false;
	if (nul1 + 1 == nul2)
		return false;           /* empty authentication identity */
	*authz = data;
	*authc = nul1 + 1;
	*pass = nul2 + 1;
	return true;
}
