/*
 * fuzz_parse - libFuzzer harness on parsed's entry point: any bytes as a
 * raw message, through mime_parse and record_to_json, and through the
 * header-only reading parsed uses for a message over max_message_size.
 *
 *	make fuzz			build $(B)/fuzz/fuzz_parse (clang)
 *	make fuzz-run FUZZ_TIME=60	run it, seeded from tests/data and
 *					../shared/corpus (copied to a temporary
 *					directory, never into the project)
 */
#include <stdint.h>
#include <stdlib.h>

#include "parsed.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerInitialize - once, before any input: GMime's start-up is no
 * input's doing */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	mime_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) raw = NULL;
	g_autoptr(record) r = NULL, h = NULL;
	json_t *j;
	char *s;

	raw = g_bytes_new_static(data, size);
	r = mime_parse(raw);
	g_assert(r && r->text_body);
	/* the text body goes on the wire as it is (parsed.1's frame 1) */
	g_assert(r->text_body_len == 0 ||
	    g_utf8_validate_len(r->text_body, r->text_body_len, NULL));
	j = record_to_json(r);
	g_assert(j);
	s = json_dumps(j, JSON_COMPACT);
	g_assert(s);	/* every string in the record is valid UTF-8 */
	free(s);
	json_decref(j);
	/* every attachment is found again in the raw message by its part
	 * number, as many bytes as the record says (docs/wire.md) */
	for (guint i = 0; i < r->attachments->len; i++) {
		const struct attachment *a = r->attachments->pdata[i];
		g_autoptr(GBytes) content = mime_part_content(raw, a->part);

		g_assert(content && g_bytes_get_size(content) == a->size);
	}

	h = mime_parse_headers(raw, 1000);
	j = record_to_json(h);
	s = json_dumps(j, JSON_COMPACT);
	g_assert(s);
	free(s);
	json_decref(j);
	return 0;
}
