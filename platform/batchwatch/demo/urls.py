from django.urls import path

from batchwatch.demo import views

urlpatterns = [
    path("demo/inbox/", views.inbox_page, name="demo-inbox"),
]
