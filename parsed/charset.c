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
 *  - a label iconv does not know under any spelling (x-, _ for -, no
 *    dash...) gets that best guess and a warning that says so;
 *  - ASCII text with ISO-2022-JP's escape sequences and no label is read
 *    as ISO-2022-JP (old Japanese mailers send it unlabelled);
 *  - labels senders use for a smaller charset than they write are read as
 *    the superset: iso-8859-1 as windows-1252, gb2312/gbk as gb18030,
 *    euc-kr/ks_c_5601-1987 as cp949 (glibc's iconv names);
 *  - mislabelled text: 8-bit text under a single-byte label (iso-8859-*,
 *    windows-125x, koi8-r...) that is valid UTF-8 is UTF-8 (the classic
 *    "Ã©" mistake: real single-byte text is valid UTF-8 almost never);
 *  - text invalid in its charset is read as UTF-8 if it is that, else in
 *    the charset's vendor extensions, else with U+FFFD for each bad byte;
 *  - utf-16 without a byte order mark: the byte order with more zero
 *    high bytes (mail written on Windows is little-endian).
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
	{ "x-sjis", "SHIFT-JIS" }, { "shift-jis", "SHIFT-JIS" }, { "ms_kanji", "CP932" },
	{ "windows-31j", "CP932" }, { "x-ms-cp932", "CP932" },
	{ "x-user-defined", "ISO-8859-1" },
};

/* spellings of windows code pages ("win-1251", "ms1252"), tried as "cp" */
static const char *const digit_prefixes[] = { "windows", "win", "ms", "cp", "ibm" };

/* iconv names of the multi-byte and stateful charsets; every other
 * charset is read a byte at a time */
static const char *const multibyte[] = {
	"UTF", "UCS", "ISO-2022", "ISO2022", "SHIFT-JIS", "SJIS", "CP932", "EUC", "GB", "BIG5",
	"CP949", "CP950", "CP936", "HZ", "JOHAB", "UHC", NULL
};

/* when strict decoding fails: the vendor extensions to try, in order */
static const struct {
	const char *iconv;
	const char *alt[3];
} supersets[] = {
	{ "SHIFT-JIS", { "CP932", NULL } },
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
 * not know the charset.  What iconv writes is checked: glibc's makes 5-
 * and 6-byte sequences of UCS-4 beyond U+10FFFF, which are not UTF-8
 * (each of their bytes becomes U+FFFD, strict or not: iconv took them). */
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
	if (!utf8_valid(out->str, out->len)) {
		char *v = g_utf8_make_valid(out->str, (gssize)out->len);

		g_string_free(out, TRUE);
		*out_len = strlen(v);
		return v;
	}
	*out_len = out->len;
	return g_string_free(out, FALSE);
}

/* iso2022jp_escapes - data holds one of ISO-2022-JP's designations of a
 * Japanese character set (ESC $ B, ESC $ @, ESC $ ( D) */
static gboolean
iso2022jp_escapes(const char *data, gsize len)
{
	for (const char *p = data; (p = memchr(p, '\x1b', len - (gsize)(p - data))) != NULL; p++) {
		gsize left = len - (gsize)(p - data);

		if (left >= 3 && p[1] == '$' && (p[2] == 'B' || p[2] == '@'))
			return TRUE;
		if (left >= 4 && p[1] == '$' && p[2] == '(' && p[3] == 'D')
			return TRUE;
	}
	return FALSE;
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
		if (memchr(data, '\x1b', len) && iso2022jp_escapes(data, len) &&
		    (s = convert(data, len, "ISO-2022-JP-2", TRUE, out_len)) != NULL) {
			*how = "iso-2022-jp";
			return s;
		}
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
	for (int pass = 0; pass < 4; pass++) {
		g_autofree char *canon = NULL;
		const char *try = pass < 2 ? mapped : cs;

		if (!try || !*try)
			continue;
		if (pass % 2 == 0) {
			/* one spelling for each charset (SHIFT-JIS, not
			 * shift_jis or Shift_JIS): the tables compare names */
			canon = g_ascii_strup(try, -1);
			g_strdelimit(canon, "_", '-');
			try = canon;
		}
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

/* respell - the other spellings of a label mail uses: without "x-",
 * "_" or " " for "-", without any dash, "win"/"windows"/"ms" + digits as
 * "cp" + digits; "" when there is nothing else to try */
static char *
respell(const char *label)
{
	g_autofree char *cs = g_ascii_strdown(label, -1);
	GString *s;
	const char *p;

	g_strstrip(g_strdelimit(cs, "\"'", ' '));
	p = cs;
	if (g_str_has_prefix(p, "x-") || g_str_has_prefix(p, "x_"))
		p += 2;
	s = g_string_new(NULL);
	for (; *p; p++)
		if (*p != '-' && *p != '_' && *p != ' ')
			g_string_append_c(s, *p);
	for (guint i = 0; i < G_N_ELEMENTS(digit_prefixes); i++) {
		const char *d = digit_prefixes[i];

		if (g_str_has_prefix(s->str, d) && g_ascii_isdigit(s->str[strlen(d)])) {
			g_string_erase(s, 0, (gssize)strlen(d));
			g_string_prepend(s, "cp");
			break;
		}
	}
	if (g_str_has_prefix(s->str, "iso8859") && s->len > 7)
		g_string_insert_c(g_string_insert_c(s, 3, '-'), 8, '-');
	else if (g_str_has_prefix(s->str, "utf") && s->len > 3)
		g_string_insert_c(s, 3, '-');
	else if (g_str_has_prefix(s->str, "koi8") && s->len > 4)
		g_string_insert_c(s, 4, '-');
	return g_string_free(s, FALSE);
}

/* guess_name - lookup() of label respelled (see respell), or NULL */
static char *
guess_name(const char *label)
{
	g_autofree char *other = respell(label ? label : "");

	if (!*other || g_ascii_strcasecmp(other, label ? label : "") == 0)
		return NULL;
	return lookup(other);
}

static GPrivate names = G_PRIVATE_INIT((GDestroyNotify)g_hash_table_unref);

/* iconv_name - lookup(label), else guess_name(label), worked out once
 * per label and thread; respelled tells which */
static char *
iconv_name(const char *label, gboolean *respelled)
{
	GHashTable *t = g_private_get(&names);
	const char *key = label ? label : "";
	gpointer found;
	char *name;

	if (!t) {
		t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
		g_private_set(&names, t);
	}
	/* the cached value: NULL, or "=NAME" (the label itself), or "~NAME" */
	if (g_hash_table_lookup_extended(t, key, NULL, &found)) {
		*respelled = found && *(char *)found == '~';
		return found ? g_strdup((char *)found + 1) : NULL;
	}
	*respelled = FALSE;
	name = lookup(label);
	if (!name && !charset_says_nothing(label)) {
		name = guess_name(label);
		*respelled = name != NULL;
	}
	if (g_hash_table_size(t) >= 256)
		g_hash_table_remove_all(t);	/* labels from outside: keep it small */
	g_hash_table_insert(t, g_strdup(key),
	    name ? g_strconcat(*respelled ? "~" : "=", name, NULL) : NULL);
	return name;
}

/* charset_iconv_name - the charset label names, as iconv calls it: what
 * tells two labels apart (NULL when it names none) */
char *
charset_iconv_name(const char *label)
{
	gboolean respelled;

	return iconv_name(label, &respelled);
}

/* charset_says_nothing - label is absent or one of those that name no
 * charset (us-ascii, 8bit, unknown...) */
gboolean
charset_says_nothing(const char *label)
{
	g_autofree char *cs = g_ascii_strdown(label ? label : "", -1);

	g_strstrip(g_strdelimit(cs, "\"'", ' '));
	for (int i = 0; no_charset[i]; i++)
		if (strcmp(cs, no_charset[i]) == 0)
			return TRUE;
	return FALSE;
}

/* single_byte - cs (an iconv name) reads one byte as one character */
static gboolean
single_byte(const char *cs)
{
	for (int i = 0; multibyte[i]; i++)
		if (g_ascii_strncasecmp(cs, multibyte[i], strlen(multibyte[i])) == 0)
			return FALSE;
	return TRUE;
}

/* utf16_order - "UTF-16" as glibc reads it (a byte order mark, else big
 * endian), or the byte order the text's zero bytes show when it has no
 * mark */
static const char *
utf16_order(const char *cs, const char *data, gsize len)
{
	gsize even = 0, odd = 0;

	if (g_ascii_strcasecmp(cs, "UTF-16") != 0 && g_ascii_strcasecmp(cs, "UTF16") != 0)
		return cs;
	if (len >= 2 && (((guchar)data[0] == 0xFF && (guchar)data[1] == 0xFE) ||
	    ((guchar)data[0] == 0xFE && (guchar)data[1] == 0xFF)))
		return cs;
	for (gsize i = 0; i + 1 < len; i += 2) {
		even += data[i] == '\0';
		odd += data[i + 1] == '\0';
	}
	return odd > even ? "UTF-16LE" : "UTF-16BE";
}

/* charset_to_utf8 - data, declared as label (may be NULL), as UTF-8; guess
 * is set to a line for the warnings when the result is a guess.  The
 * result is always valid UTF-8 (every path either checked it with GLib or
 * made it valid), but it may hold NULs. */
char *
charset_to_utf8(const char *data, gsize len, const char *label, gsize *out_len, char **guess)
{
	gboolean respelled;
	g_autofree char *cs = iconv_name(label, &respelled);
	const char *how;
	char *s;

	*guess = NULL;
	if (!cs) {
		s = charset_guess(data, len, out_len, &how);
		if (!charset_says_nothing(label))
			*guess = g_strdup_printf("unknown charset \"%s\", read as %s", label,
			    how ? how : "ascii");
		else if (how && label && *label)
			*guess = g_strdup_printf("8-bit text in charset \"%s\", read as %s", label, how);
		else if (how)
			*guess = g_strdup_printf("8-bit text without a charset, read as %s", how);
		return s;
	}
	if (respelled)
		*guess = g_strdup_printf("charset \"%s\" read as %s", label, cs);
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
		g_free(*guess);
		*guess = g_strdup_printf("text is not valid UTF-8, read as %s", how);
		return s;
	}
	if (single_byte(cs) && utf8_valid(data, len)) {
		g_free(*guess);
		*guess = g_strdup_printf("text in charset \"%s\" is UTF-8, read as UTF-8", label);
		*out_len = len;
		return bytes_dup(data, len);
	}
	if ((s = convert(data, len, utf16_order(cs, data, len), TRUE, out_len)) != NULL)
		return s;
	g_free(*guess);
	*guess = NULL;
	if (utf8_valid(data, len)) {
		/* before the vendor extensions: some (cp932) take any byte */
		*guess = g_strdup_printf("text is not valid %s, read as UTF-8", label);
		*out_len = len;
		return bytes_dup(data, len);
	}
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
	if ((s = convert(data, len, utf16_order(cs, data, len), FALSE, out_len)) != NULL) {
		*guess = g_strdup_printf("text is not valid %s, bad bytes replaced", label);
		return s;
	}
	/* iconv refused to open it this time (out of memory, say) */
	s = charset_guess(data, len, out_len, &how);
	*guess = g_strdup_printf("unable to convert from %s, read as %s", label, how ? how : "ascii");
	return s;
}
