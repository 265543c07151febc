/*
 * charset - the bytes of a text part, or of a header, as UTF-8.
 *
 * Mail says which charset its text is in, and is often wrong or silent.
 * The rules (those of the corpus oracle, ../shared/corpus/README.md):
 *
 *  - a label that says nothing (none, us-ascii, 8bit, unknown-8bit...) or
 *    that iconv does not know: ASCII stays ASCII; 8-bit bytes are UTF-8 if
 *    they are valid UTF-8, UTF-8 with U+FFFD if they mostly are, otherwise
 *    windows-1252;
 *  - labels senders use for a smaller charset than they write are read as
 *    the superset: iso-8859-1 as windows-1252, gb2312/gbk as gb18030,
 *    euc-kr/ks_c_5601-1987 as cp949 (glibc's iconv names);
 *  - text invalid in its charset is tried in that charset's vendor
 *    extensions, then decoded with U+FFFD for each bad byte.
 *
 * The conversion itself is glibc's iconv (through GLib).
 */
#include <errno.h>
#include <string.h>

#include <gmime/gmime.h>

#include "parsed.h"

/* labels that carry no charset information at all */
static const char *const no_charset[] = {
	"", "x-unknown", "unknown", "unknown-8bit", "x-unknown-8bit", "default", "none",
	"8bit", "7bit", "charset", "binary", "us-ascii", "ascii", "ansi_x3.4-1968",
	"iso646-us", "us", NULL
};

/* labels mail uses that iconv does not know, or where a superset is meant */
static const struct {
	const char *label;
	const char *iconv;
} aliases[] = {
	{ "iso-8859-1", "WINDOWS-1252" }, { "iso8859-1", "WINDOWS-1252" },
	{ "iso_8859-1", "WINDOWS-1252" }, { "latin1", "WINDOWS-1252" },
	{ "latin-1", "WINDOWS-1252" }, { "l1", "WINDOWS-1252" },
	{ "iso-ir-100", "WINDOWS-1252" }, { "cp819", "WINDOWS-1252" },
	{ "iso_8859-1:1987", "WINDOWS-1252" }, { "ibm819", "WINDOWS-1252" },
	{ "gb2312", "GB18030" }, { "gbk", "GB18030" }, { "x-gbk", "GB18030" },
	{ "cp936", "GB18030" }, { "euc-cn", "GB18030" }, { "csgb2312", "GB18030" },
	{ "chinese", "GB18030" },
	{ "euc-kr", "CP949" }, { "ks_c_5601-1987", "CP949" }, { "ks_c_5601", "CP949" },
	{ "ks_c_5601-1989", "CP949" }, { "ksc5601", "CP949" }, { "korean", "CP949" },
	{ "big5-hkscs", "BIG5-HKSCS" }, { "x-x-big5", "BIG5" },
	{ "unicode-1-1-utf-7", "UTF-7" }, { "utf7", "UTF-7" },
	{ "utf8", "UTF-8" }, { "unicode-1-1-utf-8", "UTF-8" }, { "x-unicode20utf8", "UTF-8" },
	{ "iso-8859-8-i", "ISO-8859-8" }, { "iso-8859-8-e", "ISO-8859-8" },
	{ "iso-8859-6-i", "ISO-8859-6" }, { "iso-8859-6-e", "ISO-8859-6" },
	{ "windows-874", "CP874" }, { "x-mac-roman", "MACINTOSH" }, { "macintosh", "MACINTOSH" },
	{ "x-mac-cyrillic", "MAC-CYRILLIC" }, { "x-mac-ce", "MAC-CENTRALEUROPE" },
	{ "x-sjis", "SHIFT_JIS" }, { "shift-jis", "SHIFT_JIS" }, { "ms_kanji", "CP932" },
	{ "windows-31j", "CP932" }, { "x-ms-cp932", "CP932" },
	{ "x-user-defined", "ISO-8859-1" },
};

/* when strict decoding fails: the vendor extensions to try, in order */
static const struct {
	const char *iconv;
	const char *alt[3];
} supersets[] = {
	{ "SHIFT_JIS", { "CP932", NULL } },
	{ "SJIS", { "CP932", NULL } },
	{ "EUC-JP", { "EUC-JISX0213", "CP932", NULL } },
	{ "ISO-2022-JP", { "ISO-2022-JP-2", "ISO-2022-JP-3", NULL } },
	{ "BIG5", { "CP950", "BIG5-HKSCS", NULL } },
	{ "BIG5-HKSCS", { "CP950", NULL } },
};

/* bytes_dup - len bytes and a NUL (g_strndup would stop at a NUL inside) */
static char *
bytes_dup(const char *data, gsize len)
{
	char *s = g_malloc(len + 1);

	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* utf8_valid - every byte of data is UTF-8 (NUL included, unlike GLib's) */
static gboolean
utf8_valid(const char *data, gsize len)
{
	const char *end;

	while (len > 0) {
		if (g_utf8_validate_len(data, len, &end))
			return TRUE;
		if (*end != '\0')
			return FALSE;
		len -= (gsize)(end - data) + 1;
		data = end + 1;
	}
	return TRUE;
}

static gboolean
is_ascii(const char *data, gsize len)
{
	for (gsize i = 0; i < len; i++)
		if ((guchar)data[i] >= 0x80)
			return FALSE;
	return TRUE;
}

/* utf8_mostly - a few broken sequences in what is otherwise UTF-8 (a cut
 * in the middle of a character, say): at least 3 good multi-byte
 * sequences and at most one stray 8-bit byte for every 4 of them */
static gboolean
utf8_mostly(const char *data, gsize len)
{
	const guchar *p = (const guchar *)data, *end = p + len;
	gsize good = 0, good_bytes = 0, high = 0;

	for (gsize i = 0; i < len; i++)
		if (p[i] >= 0x80)
			high++;
	while (p < end) {
		gsize need = 0;

		if (*p >= 0xC2 && *p <= 0xDF)
			need = 1;
		else if (*p >= 0xE0 && *p <= 0xEF)
			need = 2;
		else if (*p >= 0xF0 && *p <= 0xF4)
			need = 3;
		if (need && (gsize)(end - p) > need) {
			gsize k;

			for (k = 1; k <= need; k++)
				if (p[k] < 0x80 || p[k] > 0xBF)
					break;
			if (k > need) {
				good++;
				good_bytes += need + 1;
				p += need + 1;
				continue;
			}
		}
		p++;
	}
	return good >= 3 && (high - good_bytes) * 4 <= good;
}

/* Converters to UTF-8, opened once per charset and thread (opening one
 * costs more than most conversions). */
static void
close_cd(gpointer p)
{
	g_iconv_close((GIConv)p);
}

static GPrivate converters = G_PRIVATE_INIT((GDestroyNotify)g_hash_table_unref);

/* converter - a GIConv from charset to UTF-8, in its initial state, or
 * (GIConv)-1 when iconv does not know the charset */
static GIConv
converter(const char *charset)
{
	GHashTable *t = g_private_get(&converters);
	GIConv cd;

	if (!t) {
		t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, close_cd);
		g_private_set(&converters, t);
	}
	cd = g_hash_table_lookup(t, charset);
	if (cd) {
		g_iconv(cd, NULL, NULL, NULL, NULL);	/* back to the initial state */
		return cd;
	}
	cd = g_iconv_open("UTF-8", charset);
	if (cd == (GIConv)-1)
		return cd;
	if (g_hash_table_size(t) >= 64)
		g_hash_table_remove_all(t);	/* labels from outside: keep it small */
	g_hash_table_insert(t, g_strdup(charset), cd);
	return cd;
}

/* convert - data from charset to UTF-8; strict: NULL on any bad byte;
 * lossy: U+FFFD for every byte iconv refuses.  NULL too when iconv does
 * not know the charset. */
static char *
convert(const char *data, gsize len, const char *charset, gboolean strict, gsize *out_len)
{
	GIConv cd = converter(charset);
	GString *out;
	char buf[4096];
	char *in = (char *)data;
	gsize inleft = len;

	if (cd == (GIConv)-1)
		return NULL;
	out = g_string_sized_new(len + 16);
	while (inleft > 0) {
		char *o = buf;
		gsize oleft = sizeof buf;
		gsize r = g_iconv(cd, &in, &inleft, &o, &oleft);
		int e = errno;

		g_string_append_len(out, buf, (gssize)(o - buf));
		if (r != (gsize)-1)
			break;
		if (e == E2BIG)
			continue;
		/* EILSEQ, or EINVAL: a sequence cut short at the end */
		if (strict) {
			g_string_free(out, TRUE);
			return NULL;
		}
		g_string_append(out, "\xEF\xBF\xBD");
		if (e == EINVAL)
			break;
		in++;
		inleft--;
	}
	/* a stateful encoding's closing shift sequence */
	{
		char *o = buf;
		gsize oleft = sizeof buf;

		g_iconv(cd, NULL, NULL, &o, &oleft);
		g_string_append_len(out, buf, (gssize)(o - buf));
	}
	*out_len = out->len;
	return g_string_free(out, FALSE);
}

/* charset_guess - text with no usable charset label: ASCII, else UTF-8 if
 * valid, UTF-8 with U+FFFD if mostly valid, else windows-1252; how says
 * which (NULL for ASCII) */
char *
charset_guess(const char *data, gsize len, gsize *out_len, const char **how)
{
	char *s;

	*how = NULL;
	if (is_ascii(data, len)) {
		*out_len = len;
		return bytes_dup(data, len);
	}
	if (utf8_valid(data, len)) {
		*how = "utf-8";
		*out_len = len;
		return bytes_dup(data, len);
	}
	if (utf8_mostly(data, len)) {
		*how = "damaged utf-8";
		s = convert(data, len, "UTF-8", FALSE, out_len);
	} else {
		*how = "windows-1252";
		s = convert(data, len, "WINDOWS-1252", FALSE, out_len);
	}
	if (!s) {
		/* iconv could not open even these (out of memory, say) */
		*how = "damaged utf-8";
		s = g_utf8_make_valid(data, (gssize)len);
		*out_len = strlen(s);
	}
	return s;
}

/* lookup - the iconv name for a MIME charset label, or NULL when the
 * label says nothing or names nothing iconv knows */
static char *
lookup(const char *label)
{
	g_autofree char *cs = g_ascii_strdown(label ? label : "", -1);
	const char *mapped;
	GIConv cd;

	g_strstrip(g_strdelimit(cs, "\"'", ' '));
	for (int i = 0; no_charset[i]; i++)
		if (strcmp(cs, no_charset[i]) == 0)
			return NULL;
	for (gsize i = 0; i < G_N_ELEMENTS(aliases); i++)
		if (strcmp(cs, aliases[i].label) == 0)
			return g_strdup(aliases[i].iconv);
	mapped = g_mime_charset_iconv_name(cs);
	for (int pass = 0; pass < 2; pass++) {
		const char *try = pass == 0 ? mapped : cs;

		if (!try || !*try)
			continue;
		cd = converter(try);
		if (cd != (GIConv)-1) {
			/* g_mime_charset_iconv_name maps iso-8859-1's other
			 * spellings to the real thing: keep the superset */
			if (g_ascii_strcasecmp(try, "iso-8859-1") == 0)
				return g_strdup("WINDOWS-1252");
			return g_strdup(try);
		}
	}
	return NULL;
}

static GPrivate names = G_PRIVATE_INIT((GDestroyNotify)g_hash_table_unref);

/* iconv_name - lookup(label), worked out once per label and thread */
static char *
iconv_name(const char *label)
{
	GHashTable *t = g_private_get(&names);
	const char *key = label ? label : "";
	gpointer found;
	char *name;

	if (!t) {
		t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
		g_private_set(&names, t);
	}
	if (g_hash_table_lookup_extended(t, key, NULL, &found))
		return g_strdup(found);
	name = lookup(label);
	if (g_hash_table_size(t) < 256)
		g_hash_table_insert(t, g_strdup(key), g_strdup(name));
	return name;
}

/* charset_to_utf8 - data, declared as label (may be NULL), as UTF-8; guess
 * is set to a line for the warnings when the result is a guess */
char *
charset_to_utf8(const char *data, gsize len, const char *label, gsize *out_len, char **guess)
{
	g_autofree char *cs = iconv_name(label);
	const char *how;
	char *s;

	*guess = NULL;
	if (!cs) {
		s = charset_guess(data, len, out_len, &how);
		if (how && label && *label)
			*guess = g_strdup_printf("8-bit text in charset \"%s\", read as %s", label, how);
		else if (how)
			*guess = g_strdup_printf("8-bit text without a charset, read as %s", how);
		return s;
	}
	if (is_ascii(data, len) && g_ascii_strncasecmp(cs, "UTF-7", 5) != 0 &&
	    g_ascii_strncasecmp(cs, "ISO-2022", 8) != 0 && g_ascii_strncasecmp(cs, "UTF-16", 6) != 0 &&
	    g_ascii_strncasecmp(cs, "UTF-32", 6) != 0 && g_ascii_strncasecmp(cs, "UCS", 3) != 0) {
		*out_len = len;
		return bytes_dup(data, len);
	}
	if (g_ascii_strcasecmp(cs, "UTF-8") == 0) {
		if (utf8_valid(data, len)) {
			*out_len = len;
			return bytes_dup(data, len);
		}
		s = charset_guess(data, len, out_len, &how);
		*guess = g_strdup_printf("text is not valid UTF-8, read as %s", how);
		return s;
	}
	if ((s = convert(data, len, cs, TRUE, out_len)) != NULL)
		return s;
	for (gsize i = 0; i < G_N_ELEMENTS(supersets); i++) {
		if (g_ascii_strcasecmp(cs, supersets[i].iconv) != 0)
			continue;
		for (int j = 0; supersets[i].alt[j]; j++)
			if ((s = convert(data, len, supersets[i].alt[j], TRUE, out_len)) != NULL) {
				*guess = g_strdup_printf("text is not valid %s, read as %s", label,
				    supersets[i].alt[j]);
				return s;
			}
	}
	if ((s = convert(data, len, cs, FALSE, out_len)) != NULL) {
		*guess = g_strdup_printf("text is not valid %s, bad bytes replaced", label);
		return s;
	}
	/* iconv refused to open it this time (out of memory, say) */
	s = charset_guess(data, len, out_len, &how);
	*guess = g_strdup_printf("unable to convert from %s, read as %s", label, how ? how : "ascii");
	return s;
}
