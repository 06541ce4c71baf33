"""Every REST endpoint and every error code, through FastAPI's TestClient."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serve_helpers import AUTH, TOKEN, jpeg


@pytest.fixture()
def faces_app(settings, recognizer):
    from detectkit.serve import create_app

    return create_app(settings, recognizer=recognizer)


@pytest.fixture()
def client(faces_app, client_for):
    return client_for(faces_app)


def enrol(client, name, *photos, **form):
    files = [("photos", (filename, data, "image/jpeg")) for filename, data in photos]
    return client.post(f"/api/faces/people/{name}/photos", headers=AUTH, files=files, data=form)


# ------------------------------------------------------------------ detection
@pytest.fixture(scope="module")
def detect_client(coco_onnx):
    from fastapi.testclient import TestClient

    from detectkit import Detector
    from detectkit.serve import ServeSettings, create_app

    app = create_app(ServeSettings(token=TOKEN, max_pixels=600 * 600, max_upload_bytes=2_000_000), detector=Detector(coco_onnx, device="cpu"))
    with TestClient(app) as client:
        yield client


def test_detect_returns_the_detections_json(detect_client, astronaut):
    response = detect_client.post("/api/detect", headers=AUTH, files={"image": ("astronaut.jpg", jpeg(astronaut), "image/jpeg")})
    assert response.status_code == 200
    body = response.json()
    assert body["image"] == "astronaut.jpg" and body["image_shape"] == [512, 512]
    labels = [d["label"] for d in body["detections"]]
    assert "person" in labels
    person = body["detections"][labels.index("person")]
    x1, y1, x2, y2 = person["xyxy"]
    assert x2 - x1 > 150 and y2 - y1 > 200  # the astronaut fills most of the photo


def test_detect_thresholds_and_classes_are_applied(detect_client, astronaut):
    photo = {"image": ("a.jpg", jpeg(astronaut), "image/jpeg")}
    everything = detect_client.post("/api/detect?conf=0.05", headers=AUTH, files=photo).json()["detections"]
    people = detect_client.post("/api/detect?conf=0.05&classes=person", headers=AUTH, files=photo).json()["detections"]
    one = detect_client.post("/api/detect?conf=0.05&max_det=1", headers=AUTH, files=photo).json()["detections"]
    strict = detect_client.post("/api/detect?conf=0.99", headers=AUTH, files=photo).json()["detections"]
    assert len(everything) > len(people) >= 1
    assert {d["label"] for d in people} == {"person"}
    assert len(one) == 1 and one[0]["confidence"] == max(d["confidence"] for d in everything)
    assert all(d["confidence"] >= 0.99 for d in strict) and len(strict) < len(everything)


def test_detect_annotated_jpeg(detect_client, astronaut):
    import cv2

    response = detect_client.post("/api/detect?annotated=1", headers=AUTH, files={"image": ("a.jpg", jpeg(astronaut), "image/jpeg")})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    drawn = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == astronaut.shape and int(response.headers["x-detections"]) >= 1
    assert np.abs(drawn.astype(int) - astronaut.astype(int)).mean() > 1.0  # boxes were drawn on it


@pytest.mark.parametrize(
    "query, status, words",
    [("conf=1.5", 422, "conf"), ("classes=unicorn", 422, "unicorn"), ("max_det=0", 422, "max_det"), ("iou=-1", 422, "iou")],
)
def test_detect_bad_parameters_are_422(detect_client, astronaut, query, status, words):
    response = detect_client.post(f"/api/detect?{query}", headers=AUTH, files={"image": ("a.jpg", jpeg(astronaut), "image/jpeg")})
    assert response.status_code == status
    assert words in json.dumps(response.json())


def test_detect_unreadable_upload_is_400_naming_the_file(detect_client):
    response = detect_client.post("/api/detect", headers=AUTH, files={"image": ("notes.jpg", b"this is not a picture", "image/jpeg")})
    assert response.status_code == 400
    assert response.json() == {"detail": "notes.jpg: cannot be decoded as an image: a text file", "error": "ImageError"}
    empty = detect_client.post("/api/detect", headers=AUTH, files={"image": ("empty.png", b"", "image/png")})
    assert empty.status_code == 400 and "empty.png: file is empty" in empty.json()["detail"]


def test_detect_over_the_pixel_limit_is_413(detect_client):
    big = np.zeros((700, 700, 3), np.uint8)  # 490,000 pixels > 360,000
    response = detect_client.post("/api/detect", headers=AUTH, files={"image": ("big.png", jpeg(big), "image/jpeg")})
    assert response.status_code == 413
    assert "big.png: image is 700x700 = 490,000 pixels, over the limit of 360,000" in response.json()["detail"]


def test_detect_over_the_upload_size_is_413_before_parsing(detect_client):
    response = detect_client.post("/api/detect", headers=AUTH, files={"image": ("huge.jpg", b"\xff" * 2_100_000, "image/jpeg")})
    assert response.status_code == 413 and response.text == "Content Too Large"  # FastAPI's max_body_size
    assert detect_client.get("/api/info", headers=AUTH).json()["limits"]["max_upload_bytes"] == 2_000_000


def test_detect_chunked_upload_over_the_limit_is_413(detect_client):
    def body():
        for _ in range(30):
            yield b"x" * 100_000  # no Content-Length: counted as it arrives

    response = detect_client.post("/api/detect", headers={**AUTH, "Content-Type": "multipart/form-data; boundary=b"}, content=body())
    assert response.status_code == 413


def test_detect_without_a_detector_is_503(client, face_jpeg):
    response = client.post("/api/detect", headers=AUTH, files={"image": ("a.jpg", face_jpeg, "image/jpeg")})
    assert response.status_code == 503 and "--model none" in response.json()["detail"]


# ------------------------------------------------------------------ faces
def test_enrol_reports_every_photo_used_and_rejected(client, face_jpeg, no_face_jpeg):
    response = enrol(client, "Eileen", ("eileen.jpg", face_jpeg), ("cup.jpg", no_face_jpeg), ("notes.txt", b"not a photo"))
    assert response.status_code == 201
    report = response.json()
    assert report["name"] == "Eileen" and report["created"] is True and report["embeddings"] == 1
    assert report["used"] == ["eileen.jpg"]
    reasons = {r["source"]: r["reason"] for r in report["rejected"]}
    assert reasons == {"cup.jpg": "no_face", "notes.txt": "unreadable"}
    assert all(r["detail"] for r in report["rejected"])
    again = enrol(client, "Eileen", ("eileen2.jpg", face_jpeg))
    assert again.status_code == 200 and again.json()["created"] is False and again.json()["embeddings"] == 2


def test_enrol_with_no_usable_photo_is_422_with_the_report_and_writes_nothing(client, no_face_jpeg):
    response = enrol(client, "Nobody", ("cup.jpg", no_face_jpeg), ("bad.jpg", b"\x00\x01"))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "FaceError" and "nothing was written" in body["detail"]
    assert {r["source"]: r["reason"] for r in body["report"]["rejected"]} == {"bad.jpg": "unreadable", "cup.jpg": "no_face"}
    assert client.get("/api/faces/people", headers=AUTH).json() == []


def test_enrol_strict_refuses_when_one_photo_is_bad(client, face_jpeg, no_face_jpeg):
    response = enrol(client, "Eileen", ("eileen.jpg", face_jpeg), ("cup.jpg", no_face_jpeg), strict="true")
    assert response.status_code == 422 and "strict" in response.json()["detail"]
    assert client.get("/api/faces/people", headers=AUTH).json() == []


@pytest.mark.parametrize("name", ["%20%20", "a" * 200, "bad%0Aname"])
def test_enrol_invalid_names_are_422_with_the_gallery_message(client, face_jpeg, name):
    response = enrol(client, name, ("eileen.jpg", face_jpeg))
    assert response.status_code == 422 and response.json()["error"] == "BadParameter"
    assert "name" in response.json()["detail"]


def test_enrol_too_many_photos_is_422(client, face_jpeg, settings):
    photos = [(f"p{i}.jpg", face_jpeg) for i in range(settings.max_files + 1)]
    response = enrol(client, "Eileen", *photos)
    assert response.status_code == 422 and f"at most {settings.max_files}" in response.json()["detail"]


def test_list_get_identify_verify(client, face_jpeg, face_image, no_face_jpeg):
    enrol(client, "Eileen", ("eileen.jpg", face_jpeg))
    people = client.get("/api/faces/people", headers=AUTH).json()
    assert [p["name"] for p in people] == ["Eileen"] and list(people[0]["embeddings"].values()) == [1]
    assert client.get("/api/faces/people/Eileen", headers=AUTH).json()["name"] == "Eileen"
    recompressed = jpeg(face_image, quality=60)
    found = client.post("/api/faces/identify?top_k=3", headers=AUTH, files={"photo": ("door.jpg", recompressed, "image/jpeg")})
    assert found.status_code == 200
    faces = found.json()["faces"]
    assert len(faces) == 1 and faces[0]["identity"] == "Eileen" and faces[0]["similarity"] > 0.9
    assert [c["name"] for c in faces[0]["candidates"]] == ["Eileen"]
    nobody = client.post("/api/faces/identify", headers=AUTH, files={"photo": ("cup.jpg", no_face_jpeg, "image/jpeg")})
    assert nobody.status_code == 200 and nobody.json()["faces"] == []
    verified = client.post("/api/faces/verify", headers=AUTH, files={"photo": ("door.jpg", recompressed, "image/jpeg")}, data={"name": "Eileen"})
    assert verified.status_code == 200 and verified.json()["verified"] is True and verified.json()["faces"] == 1
    no_face = client.post("/api/faces/verify", headers=AUTH, files={"photo": ("cup.jpg", no_face_jpeg, "image/jpeg")}, data={"name": "Eileen"})
    assert no_face.status_code == 422 and "no face found" in no_face.json()["detail"]


def test_unknown_people_are_404(client, face_jpeg):
    photo = {"photo": ("a.jpg", face_jpeg, "image/jpeg")}
    assert client.post("/api/faces/verify", headers=AUTH, files=photo, data={"name": "Ghost"}).status_code == 404
    assert client.get("/api/faces/people/Ghost", headers=AUTH).status_code == 404
    assert client.delete("/api/faces/people/Ghost", headers=AUTH).status_code == 404
    response = client.patch("/api/faces/people/Ghost", headers=AUTH, json={"name": "Spirit"})
    assert response.status_code == 404 and response.json()["detail"] == "no person named 'Ghost' in the gallery"


def test_identify_top_k_limits(client, face_jpeg, settings):
    photo = {"photo": ("a.jpg", face_jpeg, "image/jpeg")}
    assert client.post("/api/faces/identify?top_k=0", headers=AUTH, files=photo).status_code == 422
    over = client.post(f"/api/faces/identify?top_k={settings.max_top_k + 1}", headers=AUTH, files=photo)
    assert over.status_code == 422 and "over the limit" in over.json()["detail"]


def test_rename_remove_and_conflict(client, face_jpeg, face_image):
    enrol(client, "Eileen", ("eileen.jpg", face_jpeg))
    enrol(client, "Other", ("other.jpg", jpeg(face_image[:, ::-1].copy())))
    taken = client.patch("/api/faces/people/Eileen", headers=AUTH, json={"name": "Other"})
    assert taken.status_code == 409 and taken.json()["error"] == "Conflict"
    renamed = client.patch("/api/faces/people/Eileen", headers=AUTH, json={"name": "Eileen Collins"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Eileen Collins"
    assert client.patch("/api/faces/people/Other", headers=AUTH, json={"name": " "}).status_code == 422
    removed = client.delete("/api/faces/people/Other", headers=AUTH)
    assert removed.status_code == 200 and removed.json() == {"name": "Other", "removed_embeddings": 1}
    assert [p["name"] for p in client.get("/api/faces/people", headers=AUTH).json()] == ["Eileen Collins"]


def test_export_is_the_gallery_json_and_imports_back(client, face_jpeg, tmp_path):
    from detectkit.faces import Gallery

    enrol(client, "Eileen", ("eileen.jpg", face_jpeg))
    response = client.get("/api/faces/export", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert 'filename="gallery.json"' in response.headers["content-disposition"]
    path = tmp_path / "copy.json"
    path.write_bytes(response.content)
    with Gallery(":memory:") as copy:
        assert copy.import_from(path) == {"identities": 1, "embeddings": 1, "skipped": 0}
        assert copy.names() == ["Eileen"]


def test_faces_without_a_gallery_are_503(settings, client_for, face_jpeg):
    from detectkit.serve import create_app

    client = client_for(create_app(settings))
    response = client.get("/api/faces/people", headers=AUTH)
    assert response.status_code == 503 and "--gallery" in response.json()["detail"]


def test_info_and_openapi_describe_the_api(client):
    info = client.get("/api/info", headers=AUTH).json()
    assert info["detector"] is None and info["faces"]["model"].startswith("hog-face@") and info["streams"] == []
    schema = client.get(f"/openapi.json?token={TOKEN}").json()
    for path in ("/api/detect", "/api/faces/people/{name}/photos", "/api/faces/identify", "/api/faces/verify",
                 "/api/faces/export", "/streams/{name}.mjpg", "/streams/{name}/events"):
        assert path in schema["paths"], path
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_api_model_calls_take_turns_in_their_slots():
    import threading

    from detectkit.serve import ServeSettings
    from detectkit.serve.context import ServeContext

    context = ServeContext(ServeSettings(token=TOKEN, api_model_slots=1))
    inside, entered = threading.Event(), []

    def second() -> None:
        with context.model_call():
            entered.append("second")

    with context.model_call():
        worker = threading.Thread(target=second)
        worker.start()
        worker.join(0.3)
        assert entered == []  # the one slot is taken: the second request waits
        inside.set()
    worker.join(5)
    assert entered == ["second"]


def test_a_gallery_of_another_model_is_409_with_the_library_message(tmp_path, settings, client_for, face_detector, hog_embedder, face_jpeg):
    from detectkit.classical import HogFaceEmbedder
    from detectkit.faces import FaceRecognizer
    from detectkit.serve import create_app

    with FaceRecognizer(tmp_path / "g.db", detector=face_detector, embedder=hog_embedder) as first:
        first.enroll("Eileen", [face_jpeg])
    with FaceRecognizer(tmp_path / "g.db", detector=face_detector, embedder=HogFaceEmbedder(cell=16)) as other:
        client = client_for(create_app(settings, recognizer=other))
        photo = {"photo": ("a.jpg", face_jpeg, "image/jpeg")}
        found = client.post("/api/faces/identify", headers=AUTH, files=photo)
        assert found.status_code == 409 and "different models cannot be compared" in found.json()["detail"]
        verify = client.post("/api/faces/verify", headers=AUTH, files=photo, data={"name": "Eileen"})
        assert verify.status_code == 409 and "re-enrol them with this model" in verify.json()["detail"]


def test_stream_endpoints_through_the_test_client(settings, client_for, tmp_path):
    from detectkit.serve import LiveStream, StreamHub, create_app

    hub = StreamHub()
    hub.add(LiveStream("gone", str(tmp_path / "missing.mp4"), retry_backoff=30.0))
    client = client_for(create_app(settings, hub=hub))
    listed = client.get("/api/streams", headers=AUTH).json()
    assert [s["name"] for s in listed] == ["gone"] and listed[0]["frames"] == 0
    assert client.get("/api/streams/nowhere", headers=AUTH).status_code == 404
    for path in ("/streams/nowhere.mjpg", "/streams/nowhere/events", "/streams/nowhere.jpg"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 404 and "no stream named 'nowhere' (streams: gone)" == response.json()["detail"], path
    no_frame = client.get("/streams/gone.jpg", headers=AUTH)
    assert no_frame.status_code == 404 and "has no frame yet" in no_frame.json()["detail"]
