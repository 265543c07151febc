/*
 * gmime-bare - the least work parsing a message with GMime can be, to
 * measure parsed against: for each FILE, read it, parse it with GMime
 * from a memory stream over its bytes (as parsed does), walk every part,
 * and decode every leaf's content to a null stream.  No header decoding,
 * no charset conversion, no HTML, no JSON.
 *
 *	gmime-bare FILE...	prints "messages=N bytes=B seconds=S" on stdout
 */
#include <stdio.h>
#include <string.h>

#include <gmime/gmime.h>

struct totals {
	guint64 leaves;
	guint64 decoded;
};

/* leaf - decode one leaf's content to a null stream */
static void
leaf(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct totals *t = data;
	GMimeDataWrapper *w;
	GMimeStream *null;

	if (!GMIME_IS_PART(part))
		return;
	w = g_mime_part_get_content(GMIME_PART(part));
	if (!w)
		return;
	null = g_mime_stream_null_new();
	g_mime_data_wrapper_write_to_stream(w, null);
	t->decoded += (guint64)g_mime_stream_length(null);
	t->leaves++;
	g_object_unref(null);
}

int
main(int argc, char **argv)
{
	struct totals t = { 0, 0 };
	guint64 bytes = 0;
	gint64 start;
	double seconds;

	if (argc < 2) {
		fprintf(stderr, "usage: gmime-bare FILE...\n");
		return 64;
	}
	g_mime_init();
	start = g_get_monotonic_time();
	for (int i = 1; i < argc; i++) {
		g_autoptr(GError) err = NULL;
		GByteArray *window;
		GMimeStream *stream;
		GMimeParser *parser;
		GMimeMessage *msg;
		char *data;
		gsize len;

		if (!g_file_get_contents(argv[i], &data, &len, &err)) {
			fprintf(stderr, "gmime-bare: %s\n", err->message);
			return 66;
		}
		bytes += len;
		window = g_byte_array_new_take((guint8 *)data, len);
		stream = g_mime_stream_mem_new_with_byte_array(window);
		g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
		parser = g_mime_parser_new_with_stream(stream);
		msg = g_mime_parser_construct_message(parser, NULL);
		if (msg) {
			g_mime_message_foreach(msg, leaf, &t);
			g_object_unref(msg);
		}
		g_object_unref(parser);
		g_object_unref(stream);
		g_byte_array_free(window, TRUE);
	}
	seconds = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
	printf("messages=%d bytes=%" G_GUINT64_FORMAT " seconds=%.3f leaves=%" G_GUINT64_FORMAT
	    " decoded=%" G_GUINT64_FORMAT "\n", argc - 1, bytes, seconds, t.leaves, t.decoded);
	return 0;
}
