"""The Ray side: a pool of actors that run adapter training jobs (``raie.online.adapter_job``)."""
