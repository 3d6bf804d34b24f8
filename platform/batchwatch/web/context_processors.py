from django.conf import settings


def batchwatch(request):
    return {
        "batchwatch_env": settings.BATCHWATCH_ENV,
        "batchwatch_embedded": settings.BATCHWATCH_EMBEDDED,
    }
