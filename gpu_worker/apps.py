from django.apps import AppConfig


class GpuWorkerConfig(AppConfig):
    name = "gpu_worker"
    verbose_name = "GPU worker"
