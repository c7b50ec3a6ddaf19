/* gpu-pciids.c — names for PCI ids and classes: device names from the
 * pci.ids database (the format of /usr/share/misc/pci.ids: vendor lines
 * "10de  NVIDIA Corporation", device lines "\t2330  GH100 [H100 SXM5 80GB]",
 * subsystem lines with two tabs, comments with '#', a class section "C ..."
 * after the vendors) and a small built-in table of class names. */
#include "orchestrator/gpu-internal.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <ctype.h>
#include <string.h>

#define NAME_MAX_LEN 200

/* 4 hex digits at p, then at least one blank; *id gets the value. */
static bool parse_id(const char *p, unsigned *id)
{
        unsigned v = 0;

        for (int i = 0; i < 4; i++) {
                int c = tolower((unsigned char)p[i]);
                if (!isxdigit(c))
                        return false;
                v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
        }
        *id = v;
        return p[4] == ' ' || p[4] == '\t';
}

static char *name_dup(const char *p, const char *end)
{
        char *s;
        size_t n;

        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        while (end > p && isspace((unsigned char)end[-1]))
                end--;
        n = (size_t)(end - p);
        if (n == 0)
                return NULL;
        if (n > NAME_MAX_LEN)
                n = NAME_MAX_LEN;
        s = hd_malloc0(n + 1);
        for (size_t i = 0; i < n; i++)
                s[i] = isprint((unsigned char)p[i]) ? p[i] : '?';
        return s;
}

char *orch_pciids_lookup(const char *db, unsigned vendor, unsigned device)
{
        bool in_vendor = false;

        for (const char *line = db; line && *line;) {
                const char *end = strchr(line, '\n');
                const char *next = end ? end + 1 : NULL;
                unsigned id;

                if (!end)
                        end = line + strlen(line);
                if (*line == '#' || line == end) {
                        /* comment or empty line */
                } else if (*line != '\t') {
                        if (in_vendor || (line[0] == 'C' && line[1] == ' '))
                                return NULL; /* past our vendor, or into the classes */
                        in_vendor = parse_id(line, &id) && id == vendor;
                } else if (in_vendor && line[1] != '\t' && parse_id(line + 1, &id) &&
                           id == device) {
                        return name_dup(line + 5, end);
                }
                line = next;
        }
        return NULL;
}

static const struct {
        unsigned code;  /* class (16 bits), or base class (8 bits) when base */
        bool base;
        const char *name;
} class_names[] = {
        {0x0100, false, "SCSI storage controller"},
        {0x0101, false, "IDE interface"},
        {0x0104, false, "RAID bus controller"},
        {0x0106, false, "SATA controller"},
        {0x0107, false, "Serial Attached SCSI controller"},
        {0x0108, false, "Non-Volatile memory controller"},
        {0x0200, false, "Ethernet controller"},
        {0x0207, false, "Infiniband controller"},
        {0x0280, false, "Network controller"},
        {0x0300, false, "VGA compatible controller"},
        {0x0302, false, "3D controller"},
        {0x0380, false, "Display controller"},
        {0x0400, false, "Multimedia video controller"},
        {0x0401, false, "Multimedia audio controller"},
        {0x0403, false, "Audio device"},
        {0x0600, false, "Host bridge"},
        {0x0601, false, "ISA bridge"},
        {0x0604, false, "PCI bridge"},
        {0x0680, false, "Bridge"},
        {0x0880, false, "System peripheral"},
        {0x0b40, false, "Co-processor"},
        {0x0c03, false, "USB controller"},
        {0x0c05, false, "SMBus"},
        {0x1200, false, "Processing accelerators"},
        {0x01, true, "Mass storage controller"},
        {0x02, true, "Network controller"},
        {0x03, true, "Display controller"},
        {0x04, true, "Multimedia controller"},
        {0x05, true, "Memory controller"},
        {0x06, true, "Bridge"},
        {0x07, true, "Communication controller"},
        {0x08, true, "Generic system peripheral"},
        {0x0c, true, "Serial bus controller"},
        {0x12, true, "Processing accelerators"},
};

const char *orch_pci_class_name(unsigned class_code)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(class_names); i++)
                if (!class_names[i].base && class_names[i].code == (class_code >> 8))
                        return class_names[i].name;
        for (size_t i = 0; i < HD_ARRAY_SIZE(class_names); i++)
                if (class_names[i].base && class_names[i].code == (class_code >> 16))
                        return class_names[i].name;
        return "Unclassified device";
}

bool orch_pci_class_is_gpu(unsigned class_code)
{
        return (class_code >> 8) == 0x0300 || (class_code >> 8) == 0x0302;
}
