/* quota-service.c — quotas as the service uses them: the host's capacity
 * (CPUs and memory read from the system at open, or given by the params),
 * and the admission every create and start hands to the store. */
#include "orchestrator/service-internal.h"

#include <unistd.h>

void orch_capacity_init(orch_service *svc, const orch_params *p)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t memory = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) >> 20;

        svc->host = (orch_host_capacity){
                .cpus = p->host_cpus ? p->host_cpus : (unsigned)(cpus > 0 ? cpus : 1),
                .vcpu_overcommit = p->vcpu_overcommit > 0 ? p->vcpu_overcommit : 4.0,
                .memory_mib = p->host_memory_mib ? p->host_memory_mib : memory,
                .reserved_mib = p->reserved_memory_mib,
                .memory_overcommit = p->memory_overcommit > 0 ? p->memory_overcommit : 1.0,
        };
}

void orch_service_capacity(orch_service *svc, orch_host_capacity *out)
{
        *out = svc->host;
}

int orch_admission_for(orch_service *svc, unsigned gpu_count, const char *const *groups, size_t n_groups,
                       orch_admission *adm, hd_error *err)
{
        if (orch_gpu_host_check(svc, gpu_count, err) < 0)
                return -1;
        *adm = (orch_admission){.groups = groups, .n_groups = n_groups, .host = svc->host};
        return 0;
}
